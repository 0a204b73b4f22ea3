"""The workflow monitor: how a deployed workflow's runs are doing over a time window (counts, failure rate,
exact response-time and queue-wait percentiles, a time series), every run, and every model call.

| module | what |
|---|---|
| window.py | the query: the window (`from`, `to`), its buckets, the filters, each checked (422 naming the parameter) |
| stats.py | exact percentiles (`percentile_cont`'s definition) and the figures of a set of durations, in Python |
| repository.py | the queries: PostgreSQL computes the figures in SQL, SQLite reads the durations for stats.py |
| schemas.py | what the routes answer |
| service.py | the workflow's runs, model runs and figures, as the routes show them |
| router.py | `GET /v1/workflows/{workflow}/monitor`, `/runs`, `/model-runs` |
"""
