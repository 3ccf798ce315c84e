"""The administration area: accounts of staff, reviewers and admins."""
