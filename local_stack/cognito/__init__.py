"""Cognito user pools of the running stack: tokens for its users (``python -m local_stack token``)."""
