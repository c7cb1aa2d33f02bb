"""A tiny package the python-dist tests build."""


def greet(name: str) -> str:
    return f"hello, {name}"
