"""The visit verification export (docs/visit-verification.md): per visit and carer, the six
elements of electronic visit verification (service, client, date, location at check-in,
carer, start and end) and the exceptions the records show, as CSV or JSON.

- :mod:`.facts`: what the store holds about one visit, as plain values;
- :mod:`.exceptions`: the exception codes and the rules that raise them;
- :mod:`.rows`: one visit's facts made into its rows (pure);
- :mod:`.reading`: the visits of a branch and date range, read page by page;
- :mod:`.export`: the checked query and the service that streams the rows;
- :mod:`.formats`: the rows written as CSV or JSON, chunk by chunk.
"""
