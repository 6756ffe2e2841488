package dev.vecnorm.bench;

import dev.vecnorm.io.Json;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jdk.incubator.vector.FloatVector;

/**
 * What a result file came from: CPU model, ISA flags that matter for SIMD, vector width, JDK.
 * {@code Environment --annotate RESULT.json} adds it to every entry of a JMH JSON file (JMH records
 * the JDK but not the CPU), so that {@link Compare} can label cross-JDK and cross-machine comparisons.
 */
public final class Environment {
  private Environment() {}

  public static Map<String, Object> describe() {
    Map<String, Object> env = new LinkedHashMap<>();
    String model = "unknown CPU", flags = "";
    try {
      for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
        if (line.startsWith("model name") && model.equals("unknown CPU")) model = line.substring(line.indexOf(':') + 1).trim();
        if ((line.startsWith("flags") || line.startsWith("Features")) && flags.isEmpty()) flags = " " + line.substring(line.indexOf(':') + 1).trim() + " ";
      }
    } catch (IOException | RuntimeException e) {
      model = System.getProperty("os.arch");
    }
    List<String> isa = new ArrayList<>();
    for (String f : new String[] {"sse4_2", "avx", "avx2", "fma", "avx512f", "avx512vl", "asimd", "sve", "sve2"}) {
      if (flags.contains(" " + f + " ")) isa.add(f);
    }
    env.put("cpu", model);
    env.put("cores", (double) Runtime.getRuntime().availableProcessors());
    env.put("isa", isa.isEmpty() ? "unknown" : String.join("+", isa));
    env.put("vectorBits", (double) FloatVector.SPECIES_PREFERRED.vectorBitSize());
    env.put("floatLanes", (double) FloatVector.SPECIES_PREFERRED.length());
    env.put("jdk", Runtime.version().toString());
    env.put("os", System.getProperty("os.name") + " " + System.getProperty("os.arch"));
    return env;
  }

  public static void main(String[] args) throws IOException {
    if (args.length == 2 && args[0].equals("--annotate")) {
      Path file = Path.of(args[1]);
      Object root = Json.parse(Files.readString(file));
      if (!(root instanceof List<?> entries)) throw new IllegalArgumentException(file + " is not a JMH JSON array");
      Map<String, Object> env = describe();
      for (Object e : entries) {
        @SuppressWarnings("unchecked")
        Map<String, Object> entry = (Map<String, Object>) e;
        entry.put("environment", env);
      }
      Files.writeString(file, Json.write(root) + "\n");
    } else {
      System.out.println(Json.write(describe()));
    }
  }
}
