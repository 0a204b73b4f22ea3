"""The step executor: definitions compiled to plans, templates, and one module per step type."""
