package server

// BytesInFlight is the request-body bytes charged now.
func (s *Server) BytesInFlight() int64 { return s.bytes.used.Load() }
