package dev.vecnorm.bench;

import dev.vecnorm.io.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code ab BASE.jar CAND.jar [--rounds N] [--out DIR] [--threshold 10%] [--alpha 0.01] [--cand-jvm-arg ARG]... [JMH ARGS...]}:
 * the A/B mode for CI. Runs the two benchmark jars one fork at a time, alternating in ABBA order
 * (A B, B A, A B, ...) so that drift of a shared machine (other jobs, thermal, page cache) lands on
 * both sides alike, merges each side's forks into {@code DIR/base.json} and {@code DIR/cand.json}
 * (JMH JSON, environment annotated) and runs {@link Compare} on them: the Markdown table on stdout,
 * and Compare's exit status (0 pass, 1 regression, 3 inconclusive, 2 error).
 *
 * <p>A {@code -f N} among the JMH arguments sets the number of rounds (forks per side) unless
 * {@code --rounds} is given. Each jar's JMH log goes to {@code DIR/<side>-<round>.log}; progress to stderr.
 * Arguments after {@code --defaults} (jmh/bench passes the quick preset there) are used only when no
 * JMH argument came before it. {@code --cand-jvm-arg} adds a JVM argument to the candidate's forks only (e.g. a system property).
 */
public final class AbRun {
  private AbRun() {}

  public static void main(String[] args) throws IOException, InterruptedException {
    System.exit(run(args));
  }

  static int run(String[] args) throws IOException, InterruptedException {
    Options o;
    try {
      o = Options.parse(args);
    } catch (IllegalArgumentException e) {
      System.err.println("ab: " + e.getMessage());
      return Compare.EXIT_USAGE;
    }
    Files.createDirectories(o.out);
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<Path> base = new ArrayList<>(), cand = new ArrayList<>();
    long start = System.nanoTime();
    for (int round = 1; round <= o.rounds; round++) {
      boolean baseFirst = round % 2 == 1; // ABBA: a linear drift adds the same to both sides over each pair of rounds
      StringBuilder progress = new StringBuilder(String.format(Locale.ROOT, "ab: round %d/%d:", round, o.rounds));
      for (int k = 0; k < 2; k++) {
        boolean isBase = (k == 0) == baseFirst;
        String side = isBase ? "base" : "cand";
        Path json = o.out.resolve(side + "-" + round + ".json"), log = o.out.resolve(side + "-" + round + ".log");
        List<String> cmd = new ArrayList<>(List.of(java, "-jar", (isBase ? o.baseJar : o.candJar).toString()));
        cmd.addAll(o.jmhArgs);
        if (!isBase && !o.candJvmArgs.isEmpty()) cmd.addAll(List.of("-jvmArgsPrepend", String.join(" ", o.candJvmArgs)));
        cmd.addAll(List.of("-f", "1", "-rf", "json", "-rff", json.toString()));
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        int rc = p.waitFor();
        if (rc != 0 || !Files.exists(json)) {
          System.err.println("ab: " + side + " round " + round + " failed (exit " + rc + "): " + String.join(" ", cmd));
          List<String> lines = Files.readAllLines(log);
          lines.subList(Math.max(0, lines.size() - 15), lines.size()).forEach(l -> System.err.println("  " + l));
          return Compare.EXIT_USAGE;
        }
        (isBase ? base : cand).add(json);
        progress.append(String.format(Locale.ROOT, " %s %.0f s", side, (System.nanoTime() - t0) / 1e9));
      }
      System.err.println(progress);
    }
    System.err.printf(Locale.ROOT, "ab: %d rounds in %.0f s; results in %s%n", o.rounds, (System.nanoTime() - start) / 1e9, o.out);
    Path baseJson = o.out.resolve("base.json"), candJson = o.out.resolve("cand.json");
    write(baseJson, Results.merge(base));
    write(candJson, Results.merge(cand));
    List<String> cargs = new ArrayList<>(List.of(baseJson.toString(), candJson.toString()));
    cargs.addAll(o.compareArgs);
    return Compare.run(cargs.toArray(String[]::new), System.out, System.err);
  }

  private static void write(Path file, Object root) throws IOException {
    Files.writeString(file, Json.write(root) + "\n");
    Environment.main(new String[] {"--annotate", file.toString()});
  }

  record Options(Path baseJar, Path candJar, int rounds, Path out, List<String> compareArgs, List<String> candJvmArgs, List<String> jmhArgs) {
    static Options parse(String[] args) {
      String usage = "usage: ab BASE.jar CAND.jar [--rounds N] [--out DIR] [--threshold 10%] [--alpha 0.01] [--cand-jvm-arg ARG]... [JMH ARGS...]";
      if (args.length < 2) throw new IllegalArgumentException(usage);
      Path a = Path.of(args[0]), b = Path.of(args[1]);
      for (Path jar : List.of(a, b)) if (!Files.isRegularFile(jar)) throw new IllegalArgumentException("no such jar: " + jar + " (" + usage + ")");
      Integer rounds = null, forks = null;
      Path out = Path.of("ab-results");
      List<String> compare = new ArrayList<>(), candJvm = new ArrayList<>(), jmh = new ArrayList<>();
      for (int i = 2; i < args.length; i++) {
        String s = args[i];
        if (s.equals("--defaults")) {
          if (!jmh.isEmpty()) break; // the user gave a selection: ignore the preset
          continue;
        }
        switch (s) {
          case "--rounds" -> rounds = positive(s, value(args, i++));
          case "--out" -> out = Path.of(value(args, i++));
          case "--threshold", "--alpha" -> compare.addAll(List.of(s, value(args, i++)));
          case "--cand-jvm-arg" -> candJvm.add(value(args, i++));
          case "-f" -> forks = positive(s, value(args, i++));
          case "-rf", "-rff", "-o" -> throw new IllegalArgumentException(s + " is set by the A/B mode: use --out DIR");
          default -> {
            if (s.startsWith("-f") && s.length() > 2 && s.substring(2).chars().allMatch(Character::isDigit)) forks = positive("-f", s.substring(2));
            else if (s.startsWith("--threshold=") || s.startsWith("--alpha=")) compare.add(s);
            else jmh.add(s);
          }
        }
      }
      if (jmh.isEmpty()) throw new IllegalArgumentException("no JMH selection given (jmh/bench ab uses the quick preset's)");
      int n = rounds != null ? rounds : forks != null ? forks : 2;
      return new Options(a, b, n, out, compare, candJvm, jmh);
    }

    private static String value(String[] args, int i) {
      if (i + 1 >= args.length) throw new IllegalArgumentException(args[i] + " needs a value");
      return args[i + 1];
    }

    private static int positive(String name, String v) {
      try {
        int n = Integer.parseInt(v);
        if (n < 1) throw new NumberFormatException();
        return n;
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(name + " needs a positive integer, got " + v);
      }
    }
  }
}
