"""DynamoDB beyond moto: stream records as Lambda sees them, and the TTL process."""
