package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/cors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"authsvc/api"
	"authsvc/internal/zego"
)

// routes lists every route, in the order of api/openapi.yaml, with the
// credential each one needs.
func (s *Server) routes(reg *prometheus.Registry, console http.Handler) http.Handler {
	r := chi.NewRouter()
	s.mux = r // routeOf names CORS preflights by the route they ask about
	if len(s.cfg.CORSOrigins) > 0 {
		r.Use(cors.Handler(cors.Options{
			AllowedOrigins: s.cfg.CORSOrigins,
			AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete},
			AllowedHeaders: []string{"Authorization", "Content-Type", "X-Request-ID"},
			ExposedHeaders: []string{"Retry-After", "X-Request-ID"},
			MaxAge:         600,
		}))
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.writeProblem(w, r, newProblem(http.StatusNotFound, codeNotFound, "no such route"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		s.writeProblem(w, r, newProblem(http.StatusMethodNotAllowed, codeMethodNotAllowed, "method not allowed on this route"))
	})

	admin := s.requireAuth(adminOnly)
	userOrAdmin := s.requireAuth(sessions)
	tokenCaller := s.requireAuth(sessionsIdP)

	// Operations: no credential, except /metrics (an admin key or the
	// metrics token, unless OpenMetrics).
	r.Get("/healthz", s.handle(s.healthz))
	r.Head("/healthz", s.handle(s.healthz)) // many probes send HEAD; net/http drops the body
	r.Get("/readyz", s.handle(s.readyz))
	r.Head("/readyz", s.handle(s.readyz))
	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	r.With(s.requireScraper).Get("/metrics", func(w http.ResponseWriter, r *http.Request) {
		if !s.cfg.ServeMetrics {
			s.writeProblem(w, r, newProblem(http.StatusNotFound, codeNotFound, "metrics are served on their own listener"))
			return
		}
		metricsHandler.ServeHTTP(w, r)
	})
	r.Get("/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(api.Spec)
	})

	r.Group(func(r chi.Router) {
		r.Use(limitBody(maxBody))
		r.Post("/v1/sessions", s.handle(s.createSession))
		r.Delete("/v1/sessions/current", s.handle(s.endSession)) // the session token itself, checked by the handler

		r.With(tokenCaller).Post("/v1/token", s.handle(s.issueToken))
		r.With(tokenCaller).Post("/v1/token/renew", s.handle(s.renewToken))
		r.With(admin).Post("/v1/token/verify", s.handle(s.verifyToken))

		r.With(admin).Post("/v1/users", s.handle(s.createUser))
		r.With(admin).Get("/v1/users", s.handle(s.listUsers))
		r.With(userOrAdmin).Get("/v1/users/{userID}", s.handle(s.getUser))
		r.With(userOrAdmin).Patch("/v1/users/{userID}", s.handle(s.patchUser))
		r.With(admin).Delete("/v1/users/{userID}", s.handle(s.deleteUser))
	})
	r.With(limitBody(maxImportBody), admin).Post("/v1/users/import", s.handle(s.importUsers))
	r.With(admin).Get("/v1/audit", s.handle(s.listAudit))
	r.With(admin).Get("/v1/overview", s.handle(s.overview))
	// ZIM's callbacks: no bearer; the signature with the app's callback
	// secret authenticates each one.
	r.With(limitBody(zego.MaxCallbackBytes)).Post("/v1/zego/callbacks/zim", s.handle(s.zimCallback))

	// The admin console: static files, no credential; it calls the routes
	// above with the admin key its user types in.
	if console != nil {
		r.Handle("/console", console) // redirects to /console/
		r.Handle("/console/*", console)
	}
	return s.observe(newRequestIDs(), r) // before everything, routing included
}

// handle adapts the one handler shape used everywhere: a handler returns an
// error and writeError turns it into the response.
func (s *Server) handle(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}
