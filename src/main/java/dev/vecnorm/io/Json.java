package dev.vecnorm.io;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Just enough JSON for model configs and JMH result files: parse to {@code Map}/{@code List}/{@code Double}/{@code String}/
 * {@code Boolean}/{@code null}, and write the same back. Keeps the library free of dependencies.
 *
 * <p>The parser is strict RFC 8259 with three extensions that Python's {@code json} (and so Keras) and
 * JMH write: {@code NaN}, {@code Infinity} and {@code -Infinity}. Everything else malformed throws
 * {@link ParseException} with the line and column: trailing content, unknown escapes, raw control
 * characters in strings, duplicate keys (which one would win is not defined), numbers outside the
 * double range, and nesting deeper than {@value #MAX_DEPTH} (instead of a {@code StackOverflowError}).
 */
public final class Json {
  /** Arrays and objects nested deeper than this are rejected; model configs nest fewer than ten levels. */
  public static final int MAX_DEPTH = 512;

  private final String text;
  private int pos;
  private int depth;

  private Json(String text) {
    this.text = text;
  }

  /** Thrown for malformed input, with the position where parsing failed. */
  public static final class ParseException extends RuntimeException {
    ParseException(String message) {
      super(message);
    }
  }

  /**
   * Parses one JSON value.
   *
   * @param text the JSON text; not null
   * @return a {@code Map<String, Object>} (in key order), {@code List<Object>}, {@code Double}, {@code String},
   *     {@code Boolean}, or null for JSON {@code null}
   * @throws ParseException if {@code text} is not one well-formed JSON value, with the line and column
   */
  public static Object parse(String text) {
    java.util.Objects.requireNonNull(text, "text");
    Json p = new Json(text);
    p.skipSpace();
    Object value = p.value();
    p.skipSpace();
    if (p.pos != text.length()) throw p.error("unexpected trailing content");
    return value;
  }

  private ParseException error(String what) {
    int line = 1, col = 1;
    for (int i = 0; i < Math.min(pos, text.length()); i++) {
      if (text.charAt(i) == '\n') {
        line++;
        col = 1;
      } else {
        col++;
      }
    }
    return new ParseException(what + " at line " + line + ", column " + col);
  }

  private void skipSpace() {
    while (pos < text.length() && Character.isWhitespace(text.charAt(pos))) pos++;
  }

  private Object value() {
    if (pos >= text.length()) throw error("unexpected end of input");
    char c = text.charAt(pos);
    switch (c) {
      case '{': return object();
      case '[': return array();
      case '"': return string();
      case 't': return literal("true", Boolean.TRUE);
      case 'f': return literal("false", Boolean.FALSE);
      case 'n': return literal("null", null);
      case 'N': return literal("NaN", Double.NaN); // JMH writes NaN for undefined errors
      case 'I': return literal("Infinity", Double.POSITIVE_INFINITY); // Python's json writes float('inf') so
      default:
        if (text.startsWith("-Infinity", pos)) return literal("-Infinity", Double.NEGATIVE_INFINITY);
        if (c == '-' || (c >= '0' && c <= '9')) return number();
        throw error("unexpected character '" + c + "'");
    }
  }

  private Object literal(String word, Object value) {
    if (!text.startsWith(word, pos)) throw error("expected " + word);
    pos += word.length();
    return value;
  }

  private void enter() {
    if (++depth > MAX_DEPTH) throw error("nesting deeper than " + MAX_DEPTH + " levels");
  }

  private Map<String, Object> object() {
    enter();
    Map<String, Object> map = new LinkedHashMap<>();
    pos++;
    skipSpace();
    if (peek('}')) {
      depth--;
      return map;
    }
    while (true) {
      skipSpace();
      if (pos >= text.length() || text.charAt(pos) != '"') throw error("expected a string key");
      int keyAt = pos;
      String key = string();
      if (map.containsKey(key)) {
        pos = keyAt;
        throw error("duplicate key \"" + key + "\"");
      }
      skipSpace();
      expect(':');
      skipSpace();
      map.put(key, value());
      skipSpace();
      if (peek('}')) {
        depth--;
        return map;
      }
      expect(',');
    }
  }

  private List<Object> array() {
    enter();
    List<Object> list = new ArrayList<>();
    pos++;
    skipSpace();
    if (peek(']')) {
      depth--;
      return list;
    }
    while (true) {
      skipSpace();
      list.add(value());
      skipSpace();
      if (peek(']')) {
        depth--;
        return list;
      }
      expect(',');
    }
  }

  private boolean peek(char c) {
    if (pos < text.length() && text.charAt(pos) == c) {
      pos++;
      return true;
    }
    return false;
  }

  private void expect(char c) {
    if (!peek(c)) throw error("expected '" + c + "'");
  }

  private String string() {
    StringBuilder sb = new StringBuilder();
    pos++;
    while (true) {
      if (pos >= text.length()) throw error("unterminated string");
      char c = text.charAt(pos++);
      if (c == '"') return sb.toString();
      if (c < 0x20) {
        pos--;
        throw error("raw control character U+" + String.format("%04X", (int) c) + " in a string (escape it)");
      }
      if (c != '\\') {
        sb.append(c);
        continue;
      }
      if (pos >= text.length()) throw error("unterminated escape");
      char e = text.charAt(pos++);
      switch (e) {
        case 'n' -> sb.append('\n');
        case 't' -> sb.append('\t');
        case 'r' -> sb.append('\r');
        case 'b' -> sb.append('\b');
        case 'f' -> sb.append('\f');
        case '"', '\\', '/' -> sb.append(e);
        case 'u' -> {
          int code = 0;
          for (int i = 0; i < 4; i++) {
            int digit = pos + i < text.length() ? Character.digit(text.charAt(pos + i), 16) : -1;
            if (digit < 0) throw error("bad unicode escape (expected four hex digits after \\u)");
            code = code * 16 + digit;
          }
          sb.append((char) code);
          pos += 4;
        }
        default -> {
          pos -= 2;
          throw error("unknown escape '\\" + e + "'");
        }
      }
    }
  }

  /** JSON's grammar: {@code -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?}, and within the double range. */
  private Double number() {
    int start = pos;
    peek('-');
    if (!peek('0')) {
      if (digits() == 0) throw numberError(start);
    }
    if (peek('.') && digits() == 0) throw numberError(start);
    if (peek('e') || peek('E')) {
      if (!peek('+')) peek('-');
      if (digits() == 0) throw numberError(start);
    }
    double v = Double.parseDouble(text.substring(start, pos));
    if (Double.isInfinite(v)) {
      pos = start;
      throw error("number " + text.substring(start, Math.min(text.length(), start + 40)) + " is outside the double range");
    }
    return v;
  }

  private int digits() {
    int start = pos;
    while (pos < text.length() && text.charAt(pos) >= '0' && text.charAt(pos) <= '9') pos++;
    return pos - start;
  }

  private ParseException numberError(int start) {
    pos = start;
    return error("bad number");
  }

  /**
   * Writes a value back as JSON: a {@code Map} with string keys, {@code List}, {@code String}, {@code Number}, {@code Boolean} or null, nested.
   *
   * @param value the value, possibly null
   * @return the JSON text
   */
  public static String write(Object value) {
    StringBuilder sb = new StringBuilder();
    write(value, sb, "");
    return sb.toString();
  }

  private static void write(Object v, StringBuilder sb, String indent) {
    if (v == null) {
      sb.append("null");
    } else if (v instanceof String s) {
      sb.append('"');
      for (char c : s.toCharArray()) {
        switch (c) {
          case '"' -> sb.append("\\\"");
          case '\\' -> sb.append("\\\\");
          case '\n' -> sb.append("\\n");
          case '\t' -> sb.append("\\t");
          default -> {
            if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
            else sb.append(c);
          }
        }
      }
      sb.append('"');
    } else if (v instanceof Double d) {
      if (d.isNaN()) sb.append("NaN");
      else if (d.isInfinite()) sb.append(d > 0 ? "Infinity" : "-Infinity");
      else if (d == Math.rint(d) && Math.abs(d) < 1e15 && !d.equals(-0.0)) sb.append(d.longValue());
      else sb.append(d);
    } else if (v instanceof Number || v instanceof Boolean) {
      sb.append(v);
    } else if (v instanceof Map<?, ?> m) {
      sb.append("{\n");
      int i = 0;
      for (Map.Entry<?, ?> e : m.entrySet()) {
        sb.append(indent).append("  ");
        write(String.valueOf(e.getKey()), sb, indent);
        sb.append(" : ");
        write(e.getValue(), sb, indent + "  ");
        sb.append(++i < m.size() ? ",\n" : "\n");
      }
      sb.append(indent).append('}');
    } else if (v instanceof List<?> l) {
      sb.append("[\n");
      for (int i = 0; i < l.size(); i++) {
        sb.append(indent).append("  ");
        write(l.get(i), sb, indent + "  ");
        sb.append(i + 1 < l.size() ? ",\n" : "\n");
      }
      sb.append(indent).append(']');
    } else {
      throw new IllegalArgumentException("cannot write " + v.getClass());
    }
  }
}
