package builtincert

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Options configure the built-in certificate mode. Start from NewOptions; the
// zero value is not valid.
type Options struct {
	// Namespace holds the Secret and the Service. In a pod, pass it through the
	// downward API (metadata.namespace).
	Namespace string
	// SecretName is the Secret (type kubernetes.io/tls) that stores the CA and
	// the serving certificate, shared by all replicas.
	SecretName string
	// ServiceName is the Service in front of the webhook: the serving
	// certificate is issued for its DNS names, and the webhook entries whose
	// clientConfig.service names it get the caBundle.
	ServiceName string
	// ClusterDomain is the cluster's DNS suffix (cluster.local by default).
	ClusterDomain string
	// WebhookConfigurationName is the MutatingWebhookConfiguration whose
	// caBundle is kept current.
	WebhookConfigurationName string

	// CALifetime is the validity of a generated CA.
	CALifetime time.Duration
	// CertLifetime is the validity of a serving certificate.
	CertLifetime time.Duration
	// CheckInterval is how often the Secret and the webhook configuration are
	// checked even when no renewal is due (it also repairs a caBundle that
	// someone reset, for example by re-applying the manifests).
	CheckInterval time.Duration
	// PropagationDelay is the least time between adding a new CA to the trust
	// bundle and serving a certificate signed by it, so that every API server
	// has picked up the new caBundle first.
	PropagationDelay time.Duration
}

// Defaults. The names match the shipped manifests in deploy/.
const (
	DefaultSecretName               = "secure-defaults-tls"
	DefaultServiceName              = "secure-defaults"
	DefaultWebhookConfigurationName = "secure-defaults"
	DefaultClusterDomain            = "cluster.local"
	DefaultCALifetime               = 5 * 365 * 24 * time.Hour
	DefaultCertLifetime             = 90 * 24 * time.Hour
	DefaultCheckInterval            = time.Minute
	DefaultPropagationDelay         = 30 * time.Second
)

// NewOptions returns Options with every default filled in; Namespace remains
// for the caller.
func NewOptions() *Options {
	return &Options{
		SecretName:               DefaultSecretName,
		ServiceName:              DefaultServiceName,
		ClusterDomain:            DefaultClusterDomain,
		WebhookConfigurationName: DefaultWebhookConfigurationName,
		CALifetime:               DefaultCALifetime,
		CertLifetime:             DefaultCertLifetime,
		CheckInterval:            DefaultCheckInterval,
		PropagationDelay:         DefaultPropagationDelay,
	}
}

// AddFlags registers the --cert-* flags of the built-in mode on fs, with the
// current values of o as defaults.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Namespace, "cert-namespace", o.Namespace, "built-in cert mode: namespace of the certificate Secret and the webhook Service (usually the pod's own, from the downward API)")
	fs.StringVar(&o.SecretName, "cert-secret-name", o.SecretName, "built-in cert mode: Secret that stores the CA and the serving certificate")
	fs.StringVar(&o.ServiceName, "cert-service-name", o.ServiceName, "built-in cert mode: Service the serving certificate is issued for")
	fs.StringVar(&o.ClusterDomain, "cert-cluster-domain", o.ClusterDomain, "built-in cert mode: cluster DNS domain, for the <service>.<namespace>.svc.<domain> name")
	fs.StringVar(&o.WebhookConfigurationName, "cert-webhook-configuration", o.WebhookConfigurationName, "built-in cert mode: MutatingWebhookConfiguration whose caBundle is kept current")
	fs.DurationVar(&o.CALifetime, "cert-ca-lifetime", o.CALifetime, "built-in cert mode: validity of a generated CA; a new CA is made after two thirds of it")
	fs.DurationVar(&o.CertLifetime, "cert-lifetime", o.CertLifetime, "built-in cert mode: validity of the serving certificate; renewed after two thirds of it")
	fs.DurationVar(&o.CheckInterval, "cert-check-interval", o.CheckInterval, "built-in cert mode: how often the Secret and caBundle are checked when no renewal is due")
	fs.DurationVar(&o.PropagationDelay, "cert-propagation-delay", o.PropagationDelay, "built-in cert mode: least time between publishing a new CA and serving a certificate signed by it")
}

// Validate reports every problem with o at once.
func (o *Options) Validate() error {
	var errs []error
	dns1123 := func(flagName, v string, check func(string) []string) {
		if v == "" {
			errs = append(errs, fmt.Errorf("--%s is required", flagName))
			return
		}
		for _, msg := range check(v) {
			errs = append(errs, fmt.Errorf("--%s %q: %s", flagName, v, msg))
		}
	}
	dns1123("cert-namespace", o.Namespace, validation.IsDNS1123Label)
	dns1123("cert-secret-name", o.SecretName, validation.IsDNS1123Subdomain)
	dns1123("cert-service-name", o.ServiceName, validation.IsDNS1035Label)
	dns1123("cert-cluster-domain", o.ClusterDomain, validation.IsDNS1123Subdomain)
	dns1123("cert-webhook-configuration", o.WebhookConfigurationName, validation.IsDNS1123Subdomain)
	if o.CALifetime <= 0 {
		errs = append(errs, fmt.Errorf("--cert-ca-lifetime must be positive, got %s", o.CALifetime))
	}
	if o.CertLifetime <= 0 {
		errs = append(errs, fmt.Errorf("--cert-lifetime must be positive, got %s", o.CertLifetime))
	}
	if o.CALifetime > 0 && o.CertLifetime > o.CALifetime/3 {
		errs = append(errs, fmt.Errorf("--cert-lifetime (%s) must be at most a third of --cert-ca-lifetime (%s), so a serving certificate never outlives the CA that signed it", o.CertLifetime, o.CALifetime))
	}
	if o.CertLifetime > 0 && o.CertLifetime < 3*time.Second {
		errs = append(errs, fmt.Errorf("--cert-lifetime must be at least 3s, got %s", o.CertLifetime))
	}
	if o.CheckInterval <= 0 {
		errs = append(errs, fmt.Errorf("--cert-check-interval must be positive, got %s", o.CheckInterval))
	}
	if o.PropagationDelay < 0 {
		errs = append(errs, fmt.Errorf("--cert-propagation-delay must not be negative, got %s", o.PropagationDelay))
	}
	if o.CertLifetime > 0 && o.PropagationDelay > o.CertLifetime/6 {
		// The old serving certificate must stay valid while a new CA propagates.
		errs = append(errs, fmt.Errorf("--cert-propagation-delay (%s) must be at most a sixth of --cert-lifetime (%s)", o.PropagationDelay, o.CertLifetime))
	}
	return errors.Join(errs...)
}

// dnsNames are the names the serving certificate is valid for; the first is
// the one the API server uses for a service reference.
func (o *Options) dnsNames() []string {
	svc, ns := o.ServiceName, o.Namespace
	return []string{
		svc + "." + ns + ".svc",
		svc + "." + ns + ".svc." + o.ClusterDomain,
		svc + "." + ns,
		svc,
	}
}
