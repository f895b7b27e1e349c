"""ocwwatch keeps a curated list of learning resources current.

The package is cut by pipeline stage (config, fetch, extract, store, diff, report); only
`pipeline` knows their order and only `cli` prints.
"""

__version__ = "0.1.0"
