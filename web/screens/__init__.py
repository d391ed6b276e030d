"""The pages, one module per role's screen plus the shared order pages."""
