//! Placing a point's label inside a chart's plotting area: beside the point on whichever side
//! has room, smaller or shortened in the middle only when neither side has, never past the
//! area's edge.

/// Font size of point labels as given to plotters (the SVG states `size / 1.24` pixels).
pub const FONT: f64 = 11.0;

/// The smallest font a label is shrunk to before it is shortened.
pub const MIN_FONT: f64 = 8.0;

/// Advance per character as a fraction of the SVG font size: an upper bound over the labels
/// drawn, measured in headless Chromium (`getBBox`) on the committed CPU report: at most
/// 0.52 em in Liberation Sans (Chromium's `sans-serif` on Debian) and 0.61 em in DejaVu Sans.
pub const EM_PER_CHAR: f64 = 0.62;

/// Gap between a point and its label, pixels (clear of the 8-pixel ring around the point
/// that defines a roof).
pub const GAP: f64 = 11.0;

/// Pixel height of text at plotters size `font`.
pub fn height_px(font: f64) -> f64 {
    font / 1.24
}

/// Estimated pixel width of `text` at plotters size `font` (an upper bound, see
/// [`EM_PER_CHAR`]).
pub fn width_px(text: &str, font: f64) -> f64 {
    text.chars().count() as f64 * EM_PER_CHAR * height_px(font)
}

/// A placed label.
#[derive(Clone, Debug, PartialEq)]
pub struct Placed {
    /// The text drawn (the label, or with `…` in place of its middle when nothing else fits).
    pub text: String,
    /// Anchor pixel: the left end when `right_of_point`, else the right end.
    pub x: i32,
    /// Vertical centre, pixels.
    pub y: i32,
    /// Whether the label runs rightwards from `x`.
    pub right_of_point: bool,
    /// Plotters font size.
    pub font: f64,
}

/// The label `text` of a point at pixel `point`, inside the area `x` (left, right) and `y`
/// (top, bottom).
pub fn place(text: &str, point: (i32, i32), x: (i32, i32), y: (i32, i32)) -> Placed {
    let (px, py) = (point.0 as f64, point.1 as f64);
    let right_room = x.1 as f64 - (px + GAP);
    let left_room = (px - GAP) - x.0 as f64;
    let w = width_px(text, FONT);
    let (right_of_point, room) = if w <= right_room {
        (true, right_room)
    } else if w <= left_room {
        (false, left_room)
    } else if right_room >= left_room {
        (true, right_room)
    } else {
        (false, left_room)
    };
    let room = room.max(0.0);
    let mut font = FONT;
    let mut text = text.to_string();
    if w > room {
        font = (FONT * room / w).max(MIN_FONT);
        let per_char = width_px("x", font);
        let fits = (room / per_char).floor() as usize;
        let chars: Vec<char> = text.chars().collect();
        if chars.len() > fits {
            // Cut from the middle: the op (first) and dtype and implementation (last) stay.
            let keep = fits.saturating_sub(1);
            let head = keep * 2 / 5;
            let tail = keep - head;
            text = chars[..head].iter().collect::<String>()
                + "…"
                + &chars[chars.len() - tail..].iter().collect::<String>();
        }
    }
    let half = height_px(font) / 2.0 + 1.0;
    let top = y.0 as f64 + half;
    let bottom = y.1 as f64 - half;
    let cy = if top <= bottom {
        py.clamp(top, bottom)
    } else {
        (y.0 + y.1) as f64 / 2.0
    };
    Placed {
        text,
        x: if right_of_point {
            (px + GAP).round() as i32
        } else {
            (px - GAP).round() as i32
        },
        y: cy.round() as i32,
        right_of_point,
        font,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inside(p: &Placed, x: (i32, i32), y: (i32, i32)) -> bool {
        let w = width_px(&p.text, p.font);
        let (l, r) = if p.right_of_point {
            (p.x as f64, p.x as f64 + w)
        } else {
            (p.x as f64 - w, p.x as f64)
        };
        let h = height_px(p.font) / 2.0;
        l >= x.0 as f64
            && r <= x.1 as f64
            && p.y as f64 - h >= y.0 as f64
            && p.y as f64 + h <= y.1 as f64
    }

    #[test]
    fn labels_go_where_there_is_room_and_stay_inside() {
        let (x, y) = ((100, 900), (40, 540));
        // 20 characters at 11/1.24 px, 0.62 em each: 110.0 px.
        let text = "gemv m=1 bf16 candle";
        assert!((width_px(text, FONT) - 20.0 * 0.62 * 11.0 / 1.24).abs() < 1e-9);
        let left_side = place(text, (200, 300), x, y);
        assert!(
            left_side.right_of_point && left_side.x == 211,
            "{left_side:?}"
        );
        // Near the right edge the label goes to the left of the point.
        let right_edge = place(text, (880, 300), x, y);
        assert!(
            !right_edge.right_of_point && right_edge.x == 869,
            "{right_edge:?}"
        );
        // On the bottom edge it moves up into the area.
        let bottom = place(text, (200, 540), x, y);
        assert!(bottom.y < 540 && inside(&bottom, x, y), "{bottom:?}");
        // Too long for either side: shrunk, then shortened, never past the edge.
        let long = format!("attn_decode {} bf16 hotpath", "x".repeat(400));
        let p = place(&long, (500, 300), x, y);
        assert!(
            p.font >= MIN_FONT && p.text.contains('…') && inside(&p, x, y),
            "{p:?}"
        );
        assert!(p.text.starts_with("attn_decode ") && p.text.ends_with(" bf16 hotpath"));
        for (px, py) in [(100, 40), (900, 540), (500, 290), (101, 539)] {
            let p = place(text, (px, py), x, y);
            assert!(inside(&p, x, y), "{px},{py}: {p:?}");
        }
    }
}
