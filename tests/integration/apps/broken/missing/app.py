import libs_that_are_not_here  # noqa: F401


def handler(event, context):
    return {}
