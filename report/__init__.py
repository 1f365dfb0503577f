"""The report: reads a results folder, writes charts and a Markdown/HTML report. It never imports
the servers or runs load; everything it says comes from the results file."""
