"""Use cases: each orchestrates ports and domain rules; none imports a framework."""
