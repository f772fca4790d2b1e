"""What the local stack computes of CloudWatch that moto does not: statistics including
percentiles from the stored values, metric math, and alarm evaluation."""
