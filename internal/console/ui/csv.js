// CSV (RFC 4180) parsing and writing, for import files and reports. Quoted
// fields may hold commas, quotes ("") and line breaks; CRLF and LF both end a
// record; blank lines are skipped, as encoding/csv does. An unterminated
// quote is an error rather than a guess.

// parseCSV returns the records of text as arrays of strings, each with the
// 1-based line it starts on in .line.
export function parseCSV(text) {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // a BOM from spreadsheet exports
  const records = [];
  let rec = [];
  let field = '';
  let line = 1;
  let start = 1;
  let i = 0;
  let quoted = false;
  let fresh = true; // at the start of a field
  let blank = true; // nothing read yet in this record
  const n = text.length;
  const endRecord = () => {
    rec.push(field);
    rec.line = start;
    records.push(rec);
    rec = [];
    field = '';
    fresh = true;
    blank = true;
  };
  while (i < n) {
    const c = text[i];
    if (c !== '\r' && c !== '\n') blank = false;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        if (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
          throw new SyntaxError('line ' + line + ': a character after a closing quote');
        }
        continue;
      }
      if (c === '\n') line++;
      field += c;
      i++;
      continue;
    }
    if (c === '"' && fresh && field === '') {
      quoted = true;
      fresh = false;
      i++;
      continue;
    }
    if (c === ',') {
      rec.push(field);
      field = '';
      fresh = true;
      i++;
      continue;
    }
    if (c === '\r' || c === '\n') {
      if (!blank) endRecord();
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line++;
      start = line;
      continue;
    }
    if (c === '"') throw new SyntaxError('line ' + line + ': a quote inside an unquoted field');
    field += c;
    fresh = false;
    i++;
  }
  if (quoted) throw new SyntaxError('line ' + start + ': a quoted field is not closed');
  if (!blank) endRecord();
  return records;
}

// csvField quotes a value when it needs quoting; a leading = + - @ is
// prefixed with ' so a spreadsheet opening the report runs no formula.
export function csvField(v) {
  let s = String(v ?? '');
  if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
  return /[",\r\n]/.test(s) ? '"' + s.replaceAll('"', '""') + '"' : s;
}

export function csvLine(values) {
  return values.map(csvField).join(',') + '\r\n';
}
