"""Small, real experiments behind the seed's accuracy claims (C3, C9): see docs/seed-claims.md."""
