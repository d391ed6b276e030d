"""The application shell: app factory, database, HTTP plumbing shared by all packages."""
