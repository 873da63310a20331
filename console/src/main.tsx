import "leaflet/dist/leaflet.css";
import "uplot/dist/uPlot.min.css";
import "./styles.css";
import { render } from "preact";
import { App } from "./app";
import { restore } from "./auth";

render(<App />, document.getElementById("app")!);
restore();
