"""goman: K3s clusters on AWS EC2, with all state in one versioned S3 bucket."""

__version__ = "0.1.0"
