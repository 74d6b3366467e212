"""More phrasings of the guide's actions and checks (variants, tenant settings, troubleshooting)."""
