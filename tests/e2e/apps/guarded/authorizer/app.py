"""The guard: a REQUEST authorizer deciding by the X-Caller header. It prints the shape of the
event it was given (the tests read it from the functions' log)."""

import json
import time


def policy(effect, resource):
    return {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}


def handler(event, context):
    caller = event["headers"]["X-Caller"]
    print(
        "guard-event "
        + json.dumps(
            {
                "caller": caller,
                "keys": sorted(event),
                "type": event["type"],
                "methodArn": event["methodArn"],
                "stageVariables": event["stageVariables"],
                "query": event.get("queryStringParameters"),
                "multiQuery": event.get("multiValueQueryStringParameters"),
                "multiHeader": event["multiValueHeaders"].get("X-Caller"),
                "routeKey": event["requestContext"]["routeKey"],
                "eventType": event["requestContext"]["eventType"],
                "connectionId": event["requestContext"].get("connectionId"),
            }
        )
    )
    arn = event["methodArn"]
    region, account, rest = arn.split(":")[3], arn.split(":")[4], arn.split(":")[5]
    api_id = rest.split("/")[0]
    if caller == "crash":
        raise RuntimeError("the guard fell over")
    if caller == "slow":
        time.sleep(5)
    if caller == "garbage":
        return {"principalId": caller, "policyDocument": "allow me"}
    if caller == "nested":
        statements = [policy("Allow", arn)]
        context = {"a": {"b": 1}}  # an object as a context value
        return {"principalId": caller, "policyDocument": {"Statement": statements}, "context": context}
    if caller == "mallory":
        statements = [policy("Deny", arn)]
    elif caller == "bob":  # every route allowed by a wildcard, $connect denied: Deny wins
        statements = [
            policy("Allow", f"arn:aws:execute-api:{region}:*:{api_id}/*"),
            policy("Deny", f"arn:aws:execute-api:{region}:{account}:{api_id}/*/$connec?"),
        ]
    elif caller == "elsewhere":  # allowed on another stage only: implicitly denied here
        statements = [policy("Allow", f"arn:aws:execute-api:{region}:{account}:{api_id}/other/$connect")]
    else:  # allowed through wildcards in the region and the stage
        statements = [policy("Allow", [f"arn:aws:execute-api:*:{account}:{api_id}/?ive/*"])]
    return {
        "principalId": f"user|{caller}",
        "policyDocument": {"Version": "2012-10-17", "Statement": statements},
        "context": {"caller": caller, "level": 3, "admin": caller == "alice"},
    }
