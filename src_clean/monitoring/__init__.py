"""Daily monitoring: data quality, drift against the champion's training window, and the
champion's live record, written to ``monitoring/checks`` with a report people open."""
