"""Verifies a Cognito ID token against the user pool's JWKS: signature (RS256), issuer, audience
(the app client) and expiry. The JWKS comes from the SDKs' endpoint override when one is set
(the local stack's), else from the issuer."""

import os

import jwt

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL")
ISSUER = os.environ["ISSUER"]
POOL_ID = os.environ["USER_POOL_ID"]
JWKS_URL = f"{ENDPOINT}/{POOL_ID}/.well-known/jwks.json" if ENDPOINT else f"{ISSUER}/.well-known/jwks.json"
KEYS = jwt.PyJWKClient(JWKS_URL)


def _policy(principal, effect, resource, context=None):
    statement = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
    output = {"principalId": principal, "policyDocument": {"Version": "2012-10-17", "Statement": [statement]}}
    return {**output, "context": context} if context else output


def handler(event, context):
    token = event["queryStringParameters"]["token"]
    try:
        key = KEYS.get_signing_key_from_jwt(token).key
        claims = jwt.decode(token, key, algorithms=["RS256"], audience=os.environ["CLIENT_ID"], issuer=ISSUER)
    except jwt.PyJWTError as exc:
        print(f"refused: {type(exc).__name__}")  # never the token
        return _policy("anonymous", "Deny", event["methodArn"])
    print(f"allowed: {claims['cognito:username']} pool={os.environ['POOL_ARN'].rsplit('/', 1)[-1]}")
    who = {"user": claims["cognito:username"], "tokenUse": claims["token_use"]}
    return _policy(claims["sub"], "Allow", event["methodArn"], who)
