"""OrderCreatorRecord: SQS batches of create-order messages in, gapless numbered orders in DynamoDB out."""

__version__ = "1.0.0"
