"""CloudFormation wire format for the operations the workshop adds."""
