"""CloudWatch Logs, emulated: the functions' lines delivered to log groups, and Logs Insights."""
