// Package readmodel answers queries from the read model that projections
// keeps: the entities, lists and reports of the API, each for a Viewer under
// the domain's visibility rules and PostgreSQL's row-level security (rls.go),
// optionally from a replica (replica.go), and as of any moment by replaying one
// stream through the projector (asof.go). It must not import commands or http.
package readmodel
