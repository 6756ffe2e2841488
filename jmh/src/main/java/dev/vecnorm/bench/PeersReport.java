package dev.vecnorm.bench;

import dev.vecnorm.io.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The results of {@link Peers}: the worker reply format, the Markdown table (vecnorm, oneDNN and
 * PyTorch side by side, the ratio to the best peer and GB/s under the bandwidth probe's byte model),
 * and the raw JSON and CSV. {@code PeersReport RESULT.json} prints the table of a saved run again.
 */
public final class PeersReport {
  private PeersReport() {}

  static final String VECNORM = "vecnorm", ONEDNN = "oneDNN", PYTORCH = "PyTorch";
  static final List<String> SIDES = List.of(VECNORM, ONEDNN, PYTORCH);
  static final List<String> PEERS = List.of(ONEDNN, PYTORCH);

  /** Checksums of the same outputs may differ by float rounding; more than this means a wrong result. */
  static final double CHECKSUM_TOLERANCE = 1e-4;

  /** One case: a shape label such as {@code NHWC:64x56x56x64}, an operation, out of place or in place (y = x), threads. */
  record Case(String shape, String op, boolean inPlace, int threads) {
    String layout() {
      return shape.substring(0, shape.indexOf(':'));
    }

    String dims() {
      return shape.substring(shape.indexOf(':') + 1);
    }

    long elements() {
      return Workload.parse(shape).size();
    }

    /** Compulsory tensor bytes: the bandwidth probe's model (training forward 2 reads + 1 write, inference 1 + 1, backward 4 + 1). */
    double bytes() {
      return Report.passes(op) * elements() * 4.0;
    }

    String label() {
      String name = switch (op) {
        case "trainingForward" -> "training fwd";
        case "inferenceForward" -> "inference fwd";
        default -> op;
      };
      return inPlace ? name + ", y = x" : name;
    }
  }

  /** A worker's answer to {@code run}: {@code result NS CHECKSUM DETAIL}, {@code unsupported WHY} or {@code error WHY}. */
  record Reply(boolean ok, boolean unsupported, double ns, double checksum, String detail) {
    static Reply parse(String line) {
      if (line == null) return error("worker exited");
      String[] p = line.trim().split(" ", 4);
      if (p[0].equals("result") && p.length >= 3) {
        try {
          double ns = Double.parseDouble(p[1]), checksum = Double.parseDouble(p[2]);
          if (!(ns > 0) || Double.isInfinite(ns)) return error("non-positive time in '" + line + "'");
          return new Reply(true, false, ns, checksum, p.length > 3 ? p[3] : "");
        } catch (NumberFormatException e) {
          return error("unparsable reply '" + line + "'");
        }
      }
      if (p[0].equals("unsupported")) return new Reply(false, true, Double.NaN, Double.NaN, line.trim().substring(p[0].length()).trim());
      if (p[0].equals("error")) return error(line.trim().substring(p[0].length()).trim());
      return error("unexpected reply '" + line + "'");
    }

    static Reply error(String why) {
      return new Reply(false, false, Double.NaN, Double.NaN, why);
    }
  }

  /** One side on one case over all rounds: the best (lowest) of the round medians. */
  static final class Best {
    final List<Double> rounds = new ArrayList<>();
    double ns = Double.NaN, checksum = Double.NaN;
    String detail = "", status = "ok";

    void add(Reply r) {
      if (!r.ok()) {
        if (rounds.isEmpty()) {
          status = r.unsupported() ? "unsupported" : "error";
          detail = r.detail();
        }
        return;
      }
      if (!status.equals("ok")) status = "ok";
      rounds.add(r.ns());
      if (Double.isNaN(ns) || r.ns() < ns) {
        ns = r.ns();
        detail = r.detail();
      }
      checksum = r.checksum();
    }

    boolean measured() {
      return !Double.isNaN(ns);
    }
  }

  /** All sides of one case. */
  record Row(Case c, Map<String, Best> sides) {
    Row(Case c) {
      this(c, new LinkedHashMap<>());
    }

    Best side(String name) {
      return sides.computeIfAbsent(name, k -> new Best());
    }

    /** The fastest peer that was measured and agreed with vecnorm's checksum, or null. */
    String bestPeer() {
      String best = null;
      for (String p : PEERS) {
        Best b = sides.get(p);
        if (b == null || !b.measured() || !checksumAgrees(p)) continue;
        if (best == null || b.ns < sides.get(best).ns) best = p;
      }
      return best;
    }

    /** Best peer time over vecnorm time: above 1 means vecnorm is faster. NaN when either is missing. */
    double ratio() {
      Best v = sides.get(VECNORM);
      String p = bestPeer();
      return v == null || !v.measured() || p == null ? Double.NaN : sides.get(p).ns / v.ns;
    }

    /** A peer's outputs agree with vecnorm's (or there is nothing to compare with). */
    boolean checksumAgrees(String side) {
      Best v = sides.get(VECNORM), o = sides.get(side);
      if (v == null || o == null || !v.measured() || !o.measured()) return true;
      return Math.abs(o.checksum - v.checksum) <= CHECKSUM_TOLERANCE * Math.max(Math.abs(v.checksum), 1e-30);
    }
  }

  static String micros(Row row, String side) {
    Best b = row.sides().get(side);
    if (b == null) return "-";
    if (!b.measured()) return b.status.equals("unsupported") ? "n/a" : "error";
    String mark = row.checksumAgrees(side) ? "" : " (wrong result)";
    return String.format(Locale.ROOT, b.ns >= 100_000 ? "%.0f" : b.ns >= 1_000 ? "%.1f" : "%.2f", b.ns / 1e3) + mark;
  }

  static String gbps(Row row, String side) {
    Best b = side == null ? null : row.sides().get(side);
    return b == null || !b.measured() ? "-" : String.format(Locale.ROOT, "%.1f", row.c().bytes() / b.ns);
  }

  /** The Markdown table, a summary line per thread count, and any failures under it. */
  public static String render(List<Row> rows) {
    StringBuilder sb = new StringBuilder();
    sb.append("| shape | layout | op | threads | vecnorm µs | oneDNN µs | PyTorch µs | vecnorm / best peer | GB/s vecnorm | GB/s best peer |\n");
    sb.append("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (Row r : rows) {
      double ratio = r.ratio();
      sb.append(String.format(Locale.ROOT, "| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s |%n",
          r.c().dims(), r.c().layout(), r.c().label(), r.c().threads(),
          micros(r, VECNORM), micros(r, ONEDNN), micros(r, PYTORCH),
          Double.isNaN(ratio) ? "-" : String.format(Locale.ROOT, ratio < 1 ? "**%.2f×**" : "%.2f×", ratio),
          gbps(r, VECNORM), gbps(r, r.bestPeer())));
    }
    sb.append('\n');
    for (int threads : rows.stream().mapToInt(r -> r.c().threads()).distinct().sorted().toArray()) {
      int won = 0, total = 0;
      double worst = Double.POSITIVE_INFINITY;
      String worstCase = "";
      for (Row r : rows) {
        double ratio = r.ratio();
        if (r.c().threads() != threads || Double.isNaN(ratio)) continue;
        total++;
        if (ratio >= 1) won++;
        if (ratio < worst) {
          worst = ratio;
          worstCase = r.c().shape() + " " + r.c().label();
        }
      }
      if (total > 0) {
        sb.append(String.format(Locale.ROOT, "%d thread%s: vecnorm at or above 1.0× the best peer in %d of %d cases; lowest %.2f× (%s).%n",
            threads, threads == 1 ? "" : "s", won, total, worst, worstCase));
      }
    }
    for (Row r : rows) {
      for (String side : SIDES) {
        Best b = r.sides().get(side);
        if (b == null) continue;
        if (b.status.equals("error")) sb.append("- ").append(side).append(" failed on ").append(r.c().shape()).append(' ')
            .append(r.c().label()).append(", ").append(r.c().threads()).append(" thread(s): ").append(b.detail).append('\n');
        if (!r.checksumAgrees(side)) sb.append("- ").append(side).append(" disagrees with vecnorm on ").append(r.c().shape()).append(' ')
            .append(r.c().label()).append(String.format(Locale.ROOT, ": checksum %.9g against %.9g; left out of the ratio%n",
                b.checksum, r.sides().get(VECNORM).checksum));
      }
    }
    return sb.toString();
  }

  /** One line per side and case: the best median and each round's median, in nanoseconds. */
  public static String csv(List<Row> rows) {
    StringBuilder sb = new StringBuilder("shape,layout,op,in_place,threads,side,status,best_ns,round_ns,checksum,detail\n");
    for (Row r : rows) {
      for (var e : r.sides().entrySet()) {
        Best b = e.getValue();
        List<String> rounds = b.rounds.stream().map(d -> String.format(Locale.ROOT, "%.1f", d)).toList();
        sb.append(String.join(",", r.c().shape(), r.c().layout(), r.c().op(), String.valueOf(r.c().inPlace()),
            String.valueOf(r.c().threads()), e.getKey(), b.status,
            b.measured() ? String.format(Locale.ROOT, "%.1f", b.ns) : "", String.join(";", rounds),
            b.measured() ? String.format(Locale.ROOT, "%.9g", b.checksum) : "",
            '"' + b.detail.replace("\"", "'") + '"')).append('\n');
      }
    }
    return sb.toString();
  }

  /** The run as JSON: settings and environment, then one entry per side and case. */
  public static String json(Map<String, Object> header, List<Row> rows) {
    List<Object> results = new ArrayList<>();
    for (Row r : rows) {
      for (var e : r.sides().entrySet()) {
        Best b = e.getValue();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("shape", r.c().shape());
        m.put("op", r.c().op());
        m.put("inPlace", r.c().inPlace());
        m.put("threads", (double) r.c().threads());
        m.put("side", e.getKey());
        m.put("status", b.status);
        m.put("bestNs", b.measured() ? b.ns : null);
        m.put("roundNs", new ArrayList<Object>(b.rounds));
        m.put("checksum", b.measured() ? b.checksum : null);
        m.put("detail", b.detail);
        results.add(m);
      }
    }
    Map<String, Object> root = new LinkedHashMap<>(header);
    root.put("results", results);
    return Json.write(root) + "\n";
  }

  /** Rows back from {@link #json}, in file order. */
  static List<Row> load(String text) {
    if (!(Json.parse(text) instanceof Map<?, ?> root) || !(root.get("results") instanceof List<?> results)) {
      throw new IllegalArgumentException("not a peers result: expected an object with a \"results\" array");
    }
    Map<Case, Row> rows = new LinkedHashMap<>();
    for (Object o : results) {
      if (!(o instanceof Map<?, ?> m) || !(m.get("shape") instanceof String shape) || !(m.get("op") instanceof String op)
          || !(m.get("inPlace") instanceof Boolean inPlace) || !(m.get("threads") instanceof Double threads)
          || !(m.get("side") instanceof String side)) {
        throw new IllegalArgumentException("peers result entry without shape, op, inPlace, threads and side: " + o);
      }
      Case c = new Case(shape, op, inPlace, threads.intValue());
      Best b = rows.computeIfAbsent(c, Row::new).side(side);
      if (m.get("roundNs") instanceof List<?> rounds) for (Object d : rounds) b.rounds.add((Double) d);
      if (m.get("bestNs") instanceof Double ns) b.ns = ns;
      if (m.get("checksum") instanceof Double cs) b.checksum = cs;
      b.status = String.valueOf(m.get("status"));
      b.detail = String.valueOf(m.get("detail"));
    }
    return new ArrayList<>(rows.values());
  }

  public static void main(String[] args) throws IOException {
    if (args.length != 1) {
      System.err.println("usage: PeersReport RESULT.json");
      System.exit(2);
    }
    try {
      System.out.print(render(load(Files.readString(Path.of(args[0])))));
    } catch (IllegalArgumentException e) {
      System.err.println("peers report: " + args[0] + ": " + e.getMessage());
      System.exit(2);
    }
  }
}
