"""$connect: refuses a client without a name, using a package beside it (libs/)."""

from libs.names import valid_name


def lambda_handler(event, context):
    name = (event.get("queryStringParameters") or {}).get("name", "")
    return {"statusCode": 200 if valid_name(name) else 403}
