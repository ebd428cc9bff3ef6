package redact

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Finding is one place where a secret value was found. It never holds the
// value, only its fingerprint.
type Finding struct {
	// File is relative to the scanned directory.
	File        string `json:"file"`
	Line        int    `json:"line"`
	Fingerprint string `json:"fingerprint"`
	// Encoding is "raw" or "base64".
	Encoding string `json:"encoding"`
}

func (f Finding) String() string {
	return fmt.Sprintf("%s:%d: secret %s (%s)", f.File, f.Line, f.Fingerprint, f.Encoding)
}

// ScanDir reads every regular file under dir and reports each occurrence of
// any of values, raw or base64-encoded. Values shorter than MinSecretLen are
// skipped, as Add skips them. An empty result proves dir holds none of them.
func ScanDir(dir string, values []string) ([]Finding, error) {
	type needle struct {
		form        []byte
		fingerprint string
		encoding    string
	}
	var needles []needle
	for _, v := range values {
		if len(v) < MinSecretLen {
			continue
		}
		fp := Fingerprint(v)
		needles = append(needles,
			needle{[]byte(v), fp, "raw"},
			needle{[]byte(base64.StdEncoding.EncodeToString([]byte(v))), fp, "base64"})
	}
	var findings []Finding
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("scan %s: %w", path, err)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("scan %s: %w", path, err)
		}
		rel, _ := filepath.Rel(dir, path)
		for _, n := range needles {
			for off := 0; ; {
				i := bytes.Index(data[off:], n.form)
				if i < 0 {
					break
				}
				at := off + i
				findings = append(findings, Finding{
					File:        filepath.ToSlash(rel),
					Line:        1 + bytes.Count(data[:at], []byte{'\n'}),
					Fingerprint: n.fingerprint,
					Encoding:    n.encoding,
				})
				off = at + len(n.form)
			}
		}
		return nil
	})
	sort.Slice(findings, func(i, j int) bool {
		if findings[i].File != findings[j].File {
			return findings[i].File < findings[j].File
		}
		return findings[i].Line < findings[j].Line
	})
	return findings, err
}
