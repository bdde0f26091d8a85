package tailrace

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Every Config field, set to a non-zero value, and the option string it must become.
var fieldOptions = []struct {
	field string
	cfg   Config
	want  option
}{
	{"Hosts", Config{Hosts: []string{"http://a:1", "http://b:2"}}, option{"hosts", "http://a:1,http://b:2"}},
	{"Balance", Config{Balance: "p2c"}, option{"balance", "p2c"}},
	{"ConcurrentCalls", Config{ConcurrentCalls: 3}, option{"concurrent_calls", "3"}},
	{"HedgeDelay", Config{HedgeDelay: 2500 * time.Microsecond}, option{"hedge_delay_ms", "2.5"}},
	// A positive delay under 1 µs must not become 0 (all attempts at once): it rounds up.
	{"HedgeDelay", Config{HedgeDelay: 1}, option{"hedge_delay_ms", "0.001"}},
	{"HedgeDelay", Config{HedgeDelay: 999 * time.Nanosecond}, option{"hedge_delay_ms", "0.001"}},
	{"HedgeDelay", Config{HedgeDelay: 2500*time.Microsecond + 1}, option{"hedge_delay_ms", "2.501"}},
	{"HedgePercentile", Config{HedgePercentile: 99.5}, option{"hedge_percentile", "99.5"}},
	{"HedgeMaxExtraLoad", Config{HedgeMaxExtraLoad: 0.05}, option{"hedge_max_extra_load", "0.05"}},
	{"HedgeMaxExtraLoad", Config{HedgeMaxExtraLoad: -1}, option{"hedge_max_extra_load", "0"}},
	{"RetryOnStatus", Config{RetryOnStatus: "502,503"}, option{"retry_on_status", "502,503"}},
	{"AttemptHeader", Config{AttemptHeader: Bool(false)}, option{"attempt_header", "false"}},
	{"EjectAfter", Config{EjectAfter: -1}, option{"eject_after", "0"}},
	{"Eject", Config{Eject: 3 * time.Second}, option{"eject_ms", "3000"}},
	{"MaxCount", Config{MaxCount: 32}, option{"max_count", "32"}},
	{"MaxQueue", Config{MaxQueue: -1}, option{"max_queue", "0"}},
	{"QueueTimeout", Config{QueueTimeout: 1500 * time.Microsecond}, option{"queue_timeout_ms", "2"}},
	{"Timeout", Config{Timeout: -1}, option{"timeout_ms", "0"}},
	{"AttemptTimeout", Config{AttemptTimeout: time.Second}, option{"attempt_timeout_ms", "1000"}},
	{"ConnectTimeout", Config{ConnectTimeout: 250 * time.Millisecond}, option{"connect_timeout_ms", "250"}},
	{"MaxResponseBytes", Config{MaxResponseBytes: 1 << 40}, option{"max_response_bytes", "1099511627776"}},
	{"CAFile", Config{CAFile: "/etc/ca.pem"}, option{"ca_file", "/etc/ca.pem"}},
	{"HTTP2", Config{HTTP2: "never"}, option{"http2", "never"}},
	{"HTTP2PriorKnowledge", Config{HTTP2PriorKnowledge: true}, option{"http2_prior_knowledge", "true"}},
	{"PoolMaxIdlePerHost", Config{PoolMaxIdlePerHost: -1}, option{"pool_max_idle_per_host", "0"}},
	{"PoolIdleTimeout", Config{PoolIdleTimeout: time.Minute}, option{"pool_idle_timeout_ms", "60000"}},
}

func TestEveryConfigFieldBecomesItsOption(t *testing.T) {
	covered := map[string]bool{}
	for _, tc := range fieldOptions {
		got := tc.cfg.options()
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s: options %v, want [%v]", tc.field, got, tc.want)
		}
		covered[tc.field] = true
	}
	// The table covers every exported field (a new field needs a row).
	ty := reflect.TypeOf(Config{})
	for i := 0; i < ty.NumField(); i++ {
		if f := ty.Field(i); f.IsExported() && !covered[f.Name] {
			t.Errorf("Config.%s has no row in fieldOptions", f.Name)
		}
	}
	if got := (&Config{}).options(); len(got) != 0 {
		t.Errorf("the zero Config sets %v; want nothing (library defaults)", got)
	}
}

func TestEveryLibraryOptionHasAConfigField(t *testing.T) {
	fields := map[string]bool{}
	for _, tc := range fieldOptions {
		fields[tc.want.name] = true
	}
	opts := Options()
	if len(opts) < 20 {
		t.Fatalf("Options() lists only %d options", len(opts))
	}
	for _, o := range opts {
		if !fields[o.Name] {
			t.Errorf("library option %q (%s) has no Config field", o.Name, o.Doc)
		}
		if o.Doc == "" {
			t.Errorf("option %q has no doc line", o.Name)
		}
	}
}

func TestEveryFieldIsAcceptedByTheLibrary(t *testing.T) {
	for _, tc := range fieldOptions {
		if tc.field == "CAFile" || tc.field == "MaxQueue" || tc.field == "QueueTimeout" {
			continue // need a real file / max_count: checked below
		}
		c, err := NewClient(tc.cfg)
		if err != nil {
			t.Errorf("%s: %v", tc.field, err)
			continue
		}
		c.Close()
	}
	c, err := NewClient(Config{MaxCount: 4, MaxQueue: -1, QueueTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// Messages that name an option name the Go field too: every field's option is known.
func TestEveryOptionHasItsGoNameForMessages(t *testing.T) {
	for _, fo := range fieldOptions {
		if got := optionFields[fo.want.name]; !strings.Contains(got, "Config."+fo.field) {
			t.Errorf("option %s: Go name %q; want Config.%s", fo.want.name, got, fo.field)
		}
	}
	for _, o := range Options() {
		if optionFields[o.Name] == "" {
			t.Errorf("library option %q has no Go name for messages", o.Name)
		}
	}
}

func TestSetTakesAnyOptionByName(t *testing.T) {
	var cfg Config
	cfg.MaxCount = 2
	if err := cfg.Set("max_count", "7"); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Set("hedge_delay_ms", "0.25"); err != nil {
		t.Fatal(err)
	}
	got := cfg.options()
	want := []option{{"max_count", "2"}, {"max_count", "7"}, {"hedge_delay_ms", "0.25"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("options %v, want %v (Set's options come after the fields)", got, want)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestCopiesOfAConfigDoNotShareSetOptions(t *testing.T) {
	var base Config
	for _, o := range []option{{"max_count", "1"}, {"timeout_ms", "100"}, {"balance", "p2c"}} {
		if err := base.Set(o.name, o.value); err != nil {
			t.Fatal(err)
		}
	}
	if cap(base.extra) == len(base.extra) {
		t.Fatalf("base has no spare capacity (len %d): the test would prove nothing", len(base.extra))
	}
	a, b := base, base
	if err := a.Set("concurrent_calls", "2"); err != nil {
		t.Fatal(err)
	}
	if err := b.Set("concurrent_calls", "3"); err != nil {
		t.Fatal(err)
	}
	if got := a.options(); len(got) != 4 || got[3] != (option{"concurrent_calls", "2"}) {
		t.Errorf("copy a: %v; want its own concurrent_calls 2 last", got)
	}
	if got := b.options(); len(got) != 4 || got[3] != (option{"concurrent_calls", "3"}) {
		t.Errorf("copy b: %v; want its own concurrent_calls 3 last", got)
	}
	if got := base.options(); len(got) != 3 {
		t.Errorf("base: %v; want its 3 options only", got)
	}
}

func TestHedgeDelayUnderAMicrosecondStillHedgesLater(t *testing.T) {
	c := newClient(t, Config{ConcurrentCalls: 2, HedgeDelay: 1})
	if d := mustStats(t, c).HedgeDelayUS; d != 1 {
		t.Fatalf("hedge delay %d µs for a 1 ns HedgeDelay; want 1 (not 0, all at once)", d)
	}
}

func TestBadOptionsAreRejectedNamingTheOption(t *testing.T) {
	var cfg Config
	cases := []struct{ name, value, mention string }{
		{"max_cuont", "1", "max_cuont"},
		{"max_count", "lots", "max_count"},
		{"concurrent_calls", "11", "concurrent_calls"},
		{"balance", "fastest", "balance"},
		{"timeout_ms", "\xff\xfe", "timeout_ms"},
		{"bad\xffname", "1", "UTF-8"},
		{"hosts", "ftp://x", "hosts"},
		{"max_count", "1\x002", "NUL"},
	}
	for _, tc := range cases {
		err := cfg.Set(tc.name, tc.value)
		var e *Error
		if !errors.Is(err, ErrInvalidOption) || !errors.As(err, &e) || e.Code != CodeInvalidOption {
			t.Errorf("Set(%q, %q) = %v; want an *Error matching ErrInvalidOption", tc.name, tc.value, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("Set(%q, %q): %q does not mention %q", tc.name, tc.value, err, tc.mention)
		}
	}
	if len(cfg.options()) != 0 {
		t.Errorf("rejected options were kept: %v", cfg.options())
	}
	// Field values are checked by NewClient, and so are options against each other.
	for _, tc := range []struct {
		cfg     Config
		mention string
	}{
		{Config{ConcurrentCalls: 99}, "concurrent_calls"},
		{Config{Balance: "nope"}, "balance"},
		{Config{Hosts: []string{"not a url"}}, "hosts"},
		{Config{MaxQueue: 4}, "max_queue"},
		{Config{CAFile: "/nonexistent/ca.pem"}, "ca_file"},
		{Config{RetryOnStatus: "7xx,abc"}, "retry_on_status"},
		{Config{Hosts: []string{"http://a\xff"}}, "hosts"},
	} {
		c, err := NewClient(tc.cfg)
		if err == nil {
			c.Close()
			t.Errorf("NewClient(%+v) succeeded", tc.cfg)
			continue
		}
		if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("NewClient(%+v) = %v; want ErrInvalidOption naming %s", tc.cfg, err, tc.mention)
		}
		// The usual `defer c.Close()` right after NewClient must not crash on its nil client.
		if c != nil || c.Close() != nil {
			t.Errorf("NewClient(%+v) failed but returned a client, or Close on nil failed", tc.cfg)
		}
	}
}

func TestCodeNamesMatchTheLibrary(t *testing.T) {
	for code, name := range codeNames {
		if got := resultName(code); got != name {
			t.Errorf("code %d: Go name %q, library name %q", code, name, got)
		}
	}
	if LibraryVersion() == "" {
		t.Error("no library version")
	}
}
