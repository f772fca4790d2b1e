"""What the run would cost on AWS: the meter (``meter``) and what it reads off the emulated
endpoint (``endpoint``: DynamoDB capacity, SQS and SNS requests, CloudWatch calls)."""
