"""The agent injector: a mutating admission webhook served by every operator replica."""
