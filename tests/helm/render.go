// render: a stand-in for `helm template`, for testing helm/enjoliver where
// helm itself cannot be installed (it is not packaged in Debian).
//
// What it does, the way helm 3 does it:
//   - .Values: the chart's values.yaml, then each -f file and each -set
//     in order, deep-merged (maps merge key by key, anything else replaces;
//     a null in an override deletes the key, as helm's coalescing does).
//     YAML is read with sigs.k8s.io/yaml, helm's own reader, so numbers
//     are float64 exactly as in helm.
//   - .Release.Name, .Release.Namespace (plus IsInstall/IsUpgrade/Service),
//     .Chart.Name/.Version/.AppVersion/.Description from Chart.yaml,
//     .Template.Name and .Template.BasePath.
//   - Every template under templates/ is parsed into one set, named
//     "<chart>/templates/<file>", so `define`s in _helpers.tpl are visible
//     everywhere; files starting with "_" are not rendered; NOTES.txt is
//     rendered apart (-notes FILE), as helm shows it after an install.
//   - Functions: sprig's text functions (without env/expandenv, which helm
//     removes), and helm's include, tpl, required, fail (sprig),
//     toYaml/fromYaml/toJson (sigs.k8s.io/yaml, trailing newline trimmed).
//
// What it does not do, deliberately or for lack of a cluster:
//   - no hooks (helm.sh/hook annotations are rendered like anything else),
//     no `lookup`, no .Capabilities, no .Files, no subcharts or
//     dependencies, no schema validation (values.schema.json), no kind
//     ordering of the output (it follows template file names);
//   - it does not remove "<no value>" from the output as helm does: a
//     missing value stays visible so that the test can catch it.
//   - -set understands only key.path=value, with value a bool, an integer,
//     null, {a,b} (a list of strings) or else a string.
//
// Output: one YAML stream on stdout, each document preceded by
// "---" and "# Source: <template name>". A template error (required, fail,
// a parse error) is printed on stderr and the exit status is 1.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"sigs.k8s.io/yaml"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "render: "+format+"\n", a...)
	os.Exit(1)
}

func readYAML(path string) map[string]interface{} {
	data, err := ioutil.ReadFile(path)
	if err != nil {
		die("%v", err)
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &m); err != nil {
		die("%s: %v", path, err)
	}
	if m == nil {
		m = map[string]interface{}{}
	}
	return m
}

// merge returns dst overlaid with src: maps merge recursively, other
// values replace, nil deletes.
func merge(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		sm, sok := v.(map[string]interface{})
		dm, dok := dst[k].(map[string]interface{})
		if sok && dok {
			dst[k] = merge(dm, sm)
		} else {
			dst[k] = v
		}
	}
	return dst
}

func setValue(values map[string]interface{}, expr string) {
	eq := strings.IndexByte(expr, '=')
	if eq <= 0 {
		die("-set %q: want key=value", expr)
	}
	path := strings.Split(expr[:eq], ".")
	raw := expr[eq+1:]
	var v interface{}
	switch {
	case raw == "true" || raw == "false":
		v = raw == "true"
	case raw == "null":
		v = nil
	case strings.HasPrefix(raw, "{") && strings.HasSuffix(raw, "}"):
		list := []interface{}{}
		for _, s := range strings.Split(raw[1:len(raw)-1], ",") {
			if s != "" {
				list = append(list, s)
			}
		}
		v = list
	default:
		if n, err := strconv.ParseInt(raw, 10, 64); err == nil {
			v = float64(n) // as helm's JSON-based reader would have it
		} else {
			v = raw
		}
	}
	m := values
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			m[k] = next
		}
		m = next
	}
	last := path[len(path)-1]
	if v == nil {
		delete(m, last)
	} else {
		m[last] = v
	}
}

func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return "" // helm also swallows the error here
	}
	return strings.TrimSuffix(string(data), "\n")
}

func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func toJSON(v interface{}) string {
	data, err := yaml.YAMLToJSON([]byte(toYAML(v)))
	if err != nil {
		return ""
	}
	return string(data)
}

func main() {
	var files, sets listFlag
	chartDir := flag.String("chart", "", "the chart's directory")
	release := flag.String("release", "enjoliver", ".Release.Name")
	namespace := flag.String("namespace", "default", ".Release.Namespace")
	notes := flag.String("notes", "", "write the rendered NOTES.txt to this file")
	flag.Var(&files, "f", "values file merged over values.yaml (repeatable)")
	flag.Var(&sets, "set", "key.path=value merged last (repeatable)")
	flag.Parse()
	if *chartDir == "" || flag.NArg() != 0 {
		die("usage: render -chart DIR [-f values.yaml]... [-set k=v]... [-release NAME] [-namespace NS] [-notes FILE]")
	}

	chart := readYAML(filepath.Join(*chartDir, "Chart.yaml"))
	chartName, _ := chart["name"].(string)
	if chartName == "" {
		die("Chart.yaml has no name")
	}
	values := readYAML(filepath.Join(*chartDir, "values.yaml"))
	for _, f := range files {
		values = merge(values, readYAML(f))
	}
	for _, s := range sets {
		setValue(values, s)
	}

	str := func(k string) interface{} { return chart[k] }
	top := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name": *release, "Namespace": *namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Chart": map[string]interface{}{
			"Name": chartName, "Version": str("version"), "AppVersion": str("appVersion"),
			"Description": str("description"), "Type": str("type"),
		},
	}

	basePath := chartName + "/templates"
	root := template.New("root").Option("missingkey=default")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	includeDepth := 0
	funcs["include"] = func(name string, data interface{}) (string, error) {
		if includeDepth > 100 {
			return "", fmt.Errorf("include %q: nested too deep", name)
		}
		includeDepth++
		defer func() { includeDepth-- }()
		var buf bytes.Buffer
		err := root.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = t.Execute(&buf, data)
		return buf.String(), err
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return v, fmt.Errorf("%s", msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return v, fmt.Errorf("%s", msg)
		}
		return v, nil
	}
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = fromYAML
	funcs["toJson"] = toJSON
	root.Funcs(funcs)

	entries, err := ioutil.ReadDir(filepath.Join(*chartDir, "templates"))
	if err != nil {
		die("%v", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			die("templates/%s: subdirectories are not supported", e.Name())
		}
		data, err := ioutil.ReadFile(filepath.Join(*chartDir, "templates", e.Name()))
		if err != nil {
			die("%v", err)
		}
		name := basePath + "/" + e.Name()
		if _, err := root.New(name).Parse(string(data)); err != nil {
			die("%v", err)
		}
		names = append(names, name)
	}
	sort.Strings(names)

	render := func(name string) string {
		data := map[string]interface{}{}
		for k, v := range top {
			data[k] = v
		}
		data["Template"] = map[string]interface{}{"Name": name, "BasePath": basePath}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			fmt.Fprintf(os.Stderr, "render: %v\n", err)
			os.Exit(1)
		}
		return buf.String()
	}

	var out bytes.Buffer
	for _, name := range names {
		base := filepath.Base(name)
		if strings.HasPrefix(base, "_") || base == "NOTES.txt" {
			continue
		}
		text := render(name)
		if strings.TrimSpace(text) == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s", name, strings.TrimLeft(text, "\n"))
		if !strings.HasSuffix(text, "\n") {
			out.WriteByte('\n')
		}
	}
	if *notes != "" {
		text := ""
		if root.Lookup(basePath+"/NOTES.txt") != nil {
			text = render(basePath + "/NOTES.txt")
		}
		if err := ioutil.WriteFile(*notes, []byte(text), 0o644); err != nil {
			die("%v", err)
		}
	}
	os.Stdout.Write(out.Bytes())
}
