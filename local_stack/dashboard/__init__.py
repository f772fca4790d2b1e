"""The template's CloudWatch dashboard, rendered by the local stack in a browser."""
