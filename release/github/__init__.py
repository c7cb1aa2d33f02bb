"""GitHub: a scoped githubkit client, token sources, release publishing and download.

Nothing here imports githubkit or httpx at module level; the stage modules that the
registry imports at plan time stay light.
"""
