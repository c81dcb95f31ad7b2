"""GitOps: sources, sync status and health, watch, pull-request previews and rollback."""
