"""What the run would cost on AWS: the meter (``meter``) and what it reads off the emulated
endpoint (``endpoint``: DynamoDB capacity, SQS and SNS requests, CloudWatch calls)."""

# Where the emulated endpoint answers the units it metered (the management port's ``GET
# /_local/bill`` prices them with what the stack saw itself).
UNITS_PATH = "/_local/meter/units"
