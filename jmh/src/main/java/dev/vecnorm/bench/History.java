package dev.vecnorm.bench;

import dev.vecnorm.bench.Results.Result;
import dev.vecnorm.io.Json;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.imageio.ImageIO;

/**
 * Benchmark history for CI, in a JSON-lines file (one line per benchmark per run, easy to append to
 * and to keep in a branch or an artifact):
 * <ul>
 *   <li>{@code History append HISTORY.jsonl RESULT.json [--label COMMIT]}: appends the median, quartiles
 *       and sample count of every benchmark in a JMH JSON result;
 *   <li>{@code History plot HISTORY.jsonl OUTDIR [--last N]}: one trend PNG per benchmark (Java2D, headless):
 *       the median per run with its interquartile range.
 * </ul>
 */
public final class History {
  private History() {}

  public static void main(String[] args) throws IOException {
    System.setProperty("java.awt.headless", "true");
    try {
      if (args.length >= 3 && args[0].equals("append")) {
        String label = option(args, "--label", "");
        int n = append(Path.of(args[1]), Results.load(Path.of(args[2])), label, Instant.now());
        System.err.println("history: appended " + n + " benchmarks to " + args[1]);
      } else if (args.length >= 3 && args[0].equals("plot")) {
        int last = Integer.parseInt(option(args, "--last", "50"));
        List<Path> written = plot(load(Path.of(args[1])), Path.of(args[2]), last);
        System.err.println("history: wrote " + written.size() + " trend charts to " + args[2]);
      } else {
        throw new IllegalArgumentException("usage: History append HISTORY.jsonl RESULT.json [--label L] | History plot HISTORY.jsonl OUTDIR [--last N]");
      }
    } catch (IllegalArgumentException e) {
      System.err.println("history: " + e.getMessage());
      System.exit(2);
    }
  }

  private static String option(String[] args, String name, String fallback) {
    for (int i = 3; i + 1 < args.length; i++) if (args[i].equals(name)) return args[i + 1];
    return fallback;
  }

  /** One benchmark of one run. */
  public record Point(String time, String label, String benchmark, String unit, double median, double q1, double q3, int n) {}

  public static int append(Path history, List<Result> results, String label, Instant time) throws IOException {
    StringBuilder sb = new StringBuilder();
    for (Result r : results) {
      double[] s = r.samples().length > 0 ? r.samples() : new double[] {r.score()};
      Map<String, Object> line = new LinkedHashMap<>();
      line.put("time", time.toString());
      line.put("label", label);
      line.put("benchmark", r.key());
      line.put("mode", r.mode());
      line.put("unit", r.unit());
      line.put("median", Stats.median(s));
      line.put("q1", Stats.quantile(s, 0.25));
      line.put("q3", Stats.quantile(s, 0.75));
      line.put("n", (double) r.samples().length);
      line.put("jdk", r.jdk());
      line.put("cpu", String.valueOf(r.environment().getOrDefault("cpu", "")));
      // Json.write pretty-prints; string contents never hold a raw newline (escaped), so this is one line.
      sb.append(Json.write(line).replaceAll("\n\\s*", " ")).append('\n');
    }
    Files.writeString(history, sb, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    return results.size();
  }

  public static List<Point> load(Path history) throws IOException {
    List<Point> out = new ArrayList<>();
    int lineNo = 0;
    for (String line : Files.readAllLines(history)) {
      lineNo++;
      if (line.isBlank()) continue;
      Object o;
      try {
        o = Json.parse(line);
      } catch (Json.ParseException e) {
        throw new IllegalArgumentException(history + " line " + lineNo + " is not valid JSON: " + e.getMessage());
      }
      if (!(o instanceof Map<?, ?> m) || !(m.get("benchmark") instanceof String b) || !(m.get("median") instanceof Double med)) {
        throw new IllegalArgumentException(history + " line " + lineNo + " has no benchmark and median");
      }
      out.add(new Point(String.valueOf(m.get("time")), String.valueOf(m.get("label")), b, String.valueOf(m.get("unit")), med,
          m.get("q1") instanceof Double q ? q : med, m.get("q3") instanceof Double q ? q : med,
          m.get("n") instanceof Double n ? n.intValue() : 0));
    }
    return out;
  }

  /** Writes OUTDIR/&lt;benchmark&gt;.png for every benchmark, from its last {@code last} runs. */
  public static List<Path> plot(List<Point> points, Path outDir, int last) throws IOException {
    Map<String, List<Point>> byBenchmark = new LinkedHashMap<>();
    for (Point p : points) byBenchmark.computeIfAbsent(p.benchmark(), k -> new ArrayList<>()).add(p);
    Files.createDirectories(outDir);
    List<Path> written = new ArrayList<>();
    for (var e : byBenchmark.entrySet()) {
      List<Point> ps = e.getValue().subList(Math.max(0, e.getValue().size() - last), e.getValue().size());
      Path file = outDir.resolve(e.getKey().replaceAll("^dev\\.vecnorm\\.bench\\.", "").replaceAll("[^A-Za-z0-9._=-]", "_") + ".png");
      ImageIO.write(chart(e.getKey(), ps), "png", file.toFile());
      written.add(file);
    }
    return written;
  }

  static BufferedImage chart(String title, List<Point> ps) {
    int w = 800, h = 400, left = 90, right = 20, top = 40, bottom = 70;
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    Graphics2D g = img.createGraphics();
    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
    g.setColor(Color.WHITE);
    g.fillRect(0, 0, w, h);
    double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
    for (Point p : ps) {
      lo = Math.min(lo, p.q1());
      hi = Math.max(hi, p.q3());
    }
    double pad = Math.max((hi - lo) * 0.1, Math.abs(hi) * 0.02 + 1e-12);
    lo = Math.max(0, lo - pad);
    hi += pad;
    int pw = w - left - right, ph = h - top - bottom;
    g.setColor(Color.BLACK);
    g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
    g.drawString(title, left, 22);
    g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
    g.drawRect(left, top, pw, ph);
    for (int t = 0; t <= 4; t++) { // y grid and labels
      double v = lo + (hi - lo) * t / 4;
      int y = top + ph - (int) Math.round(ph * (v - lo) / (hi - lo));
      g.setColor(new Color(225, 225, 225));
      g.drawLine(left + 1, y, left + pw - 1, y);
      g.setColor(Color.BLACK);
      g.drawString(String.format(Locale.ROOT, "%.4g", v), 8, y + 4);
    }
    g.drawString(ps.isEmpty() ? "" : ps.get(0).unit() + " (median, bars: quartiles)", left, h - 10);
    int n = ps.size();
    int prevX = -1, prevY = -1;
    for (int i = 0; i < n; i++) {
      Point p = ps.get(i);
      int x = left + (n == 1 ? pw / 2 : (int) Math.round(pw * (0.03 + 0.94 * i / (n - 1.0))));
      int ym = top + ph - (int) Math.round(ph * (p.median() - lo) / (hi - lo));
      int y1 = top + ph - (int) Math.round(ph * (p.q1() - lo) / (hi - lo)), y3 = top + ph - (int) Math.round(ph * (p.q3() - lo) / (hi - lo));
      g.setColor(new Color(120, 160, 220));
      g.setStroke(new BasicStroke(3));
      g.drawLine(x, y1, x, y3);
      g.setColor(new Color(20, 60, 160));
      g.setStroke(new BasicStroke(1.5f));
      if (prevX >= 0) g.drawLine(prevX, prevY, x, ym);
      g.fillOval(x - 3, ym - 3, 7, 7);
      prevX = x;
      prevY = ym;
      if (n <= 12 || i % Math.max(1, n / 10) == 0 || i == n - 1) { // x labels: commit or date, thinned out
        String label = p.label().isEmpty() ? p.time().substring(0, Math.min(10, p.time().length())) : p.label();
        g.setColor(Color.DARK_GRAY);
        g.drawString(label.length() > 10 ? label.substring(0, 10) : label, x - 25, top + ph + 15 + (i % 2) * 13);
      }
    }
    g.dispose();
    return img;
  }
}
