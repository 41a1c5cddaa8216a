"""The agent desk and the supervisor wall (issue 15, docs/desk.md): server-rendered pages on the same API process.

Every action a page offers is a request to the API's own routes, made in-process with the page's cookie session
(billing.entrypoints.api.desk.internal), so the roles, the access rule and the audit log are the API's."""
