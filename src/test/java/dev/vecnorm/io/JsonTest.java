package dev.vecnorm.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class JsonTest {

  @Test
  void deepNestingIsAParseErrorNotAStackOverflow() {
    String deep = "[".repeat(100_000);
    Json.ParseException e = assertThrows(Json.ParseException.class, () -> Json.parse(deep));
    assertTrue(e.getMessage().contains("nesting deeper than 512"), e.getMessage());
    assertThrows(Json.ParseException.class, () -> Json.parse("{\"a\":".repeat(600) + "1" + "}".repeat(600)));
    // 512 levels are fine.
    Object ok = Json.parse("[".repeat(512) + "]".repeat(512));
    assertTrue(ok instanceof List<?>);
  }

  @ParameterizedTest
  @ValueSource(strings = {"[1] x", "{} {}", "\"a\\x\"", "\"\\u12G4\"", "\"\\u12\"", "1e999", "-1e400", "01", "1.", ".5", "-", "+1", "1e",
      "{\"a\": 1, \"a\": 2}", "\"line\nbreak\"", "[1,]", "{\"a\" 1}", "tru", "nul", "[", "", "0x10", "1d"})
  void malformedInputIsRejectedWithAPosition(String text) {
    Json.ParseException e = assertThrows(Json.ParseException.class, () -> Json.parse(text));
    assertTrue(e.getMessage().contains("line 1") || e.getMessage().contains("line 2"), e.getMessage());
  }

  @Test
  void validInputStillParses() {
    Object v = Json.parse("{\"a\": [1, -2.5e3, 0, -0.0, 1E+2], \"s\": \"q\\\"\\\\\\/\\n\\u00e9\", \"t\": true, \"n\": null,"
        + " \"nan\": NaN, \"inf\": [Infinity, -Infinity]}");
    Map<?, ?> m = (Map<?, ?>) v;
    assertEquals(List.of(1.0, -2500.0, 0.0, -0.0, 100.0), m.get("a"));
    assertEquals("q\"\\/\n\u00e9", m.get("s"));
    assertEquals(List.of(Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY), m.get("inf"));
    assertEquals(m, Json.parse(Json.write(m)), "write and parse round-trip, infinities included");
  }
}
