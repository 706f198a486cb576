// Package examples holds client integration examples for authsvc, such as
// the ZIM Web app in zim-web/. It has no Go API: its tests keep the examples
// honest, checking that their JavaScript parses, running it against a real
// server with every request and response held to api/openapi.yaml, and
// checking that the code README.md shows is the examples' code.
package examples
