"""Side effects: projections to PostgreSQL and notifications. Methods on injected classes."""
