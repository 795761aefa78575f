package defaults

import "context"

// Options choose which rules run and how, for one pass of the rules. The zero
// value is the shipped behaviour: every default rule on, every optional rule
// off, and the pod's opt-out annotations honoured. Package config builds
// Options from the configuration file; callers without one pass Options{}.
//
// Options are read, never written, by the rules: one value may be shared by
// concurrent passes.
type Options struct {
	// Rules turns rules on (true) or off (false) by ID. A rule that is not
	// listed keeps its default: on, unless the rule is Optional.
	Rules map[string]bool
	// ExcludeImages and ExcludeContainers are patterns ("*" any run of
	// bytes, "?" one byte) of images and container names that every rule
	// leaves alone. Pod-level fields that would reach such a container are
	// then set per container on the others instead.
	ExcludeImages, ExcludeContainers []string
	// RunAsUser and RunAsGroup are the IDs the optional rule run-as-user
	// sets, FSGroup the group fs-group sets; zero means DefaultRunAsUser and
	// DefaultFSGroup.
	RunAsUser, RunAsGroup, FSGroup int64
	// IgnorePodOptOut makes the rules ignore the pod annotations that opt a
	// pod (or some of its rules or containers) out, so the defaults are
	// guaranteed; a warning says that an opt-out was ignored.
	IgnorePodOptOut bool
	// Facts are what the caller learned about this pod outside its manifest
	// (for example from its images); unlike the fields above they belong to
	// one pod, so set them on a copy of the shared Options.
	Facts Facts
	// Context, if set, is the review's: once it is done the pass stops,
	// between rules and between containers, and Result.Err says why. Like
	// Facts it belongs to one pass.
	Context context.Context
}

// Enabled reports whether the rule with the given ID runs under o. Unknown
// IDs are never enabled.
func (o Options) Enabled(id string) bool {
	for _, r := range registry {
		if r.ID == id {
			return o.enabled(r)
		}
	}
	return false
}

func (o Options) enabled(r Rule) bool {
	if on, ok := o.Rules[r.ID]; ok {
		return on
	}
	return !r.Optional
}

func (o Options) runAsUser() (uid, gid int64) {
	uid, gid = o.RunAsUser, o.RunAsGroup
	if uid <= 0 {
		uid = DefaultRunAsUser
	}
	if gid <= 0 {
		gid = DefaultRunAsUser
	}
	return uid, gid
}

func (o Options) fsGroup() int64 {
	if o.FSGroup <= 0 {
		return DefaultFSGroup
	}
	return o.FSGroup
}
