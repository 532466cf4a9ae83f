"""CloudFormation state and rules the workshop adds to moto's backend."""
