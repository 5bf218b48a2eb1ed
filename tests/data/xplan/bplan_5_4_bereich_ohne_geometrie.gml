<?xml version="1.0" encoding="UTF-8"?>
<!-- A small XPlanGML 5.4 B-Plan in Dortmund, made for landreg's tests (coordinates EPSG:25832).
     Its BP_Bereich has no geltungsbereich (optional in XPlanung): the plan area is the BP_Plan's
     raeumlicherGeltungsbereich, 300 m x 200 m. Two Baugebiete: a WA (west half) and a GI (east half). -->
<xplan:XPlanAuszug xmlns:xplan="http://www.xplanung.de/xplangml/5/4" xmlns:gml="http://www.opengis.net/gml/3.2"
    xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xsi:schemaLocation="http://www.xplanung.de/xplangml/5/4 http://www.xplanung.de/xplangml/5/4/XPlanung-Operationen.xsd"
    gml:id="GML_auszug">
  <gml:boundedBy>
    <gml:Envelope srsName="EPSG:25832"><gml:lowerCorner>393500 5708000</gml:lowerCorner><gml:upperCorner>393800 5708200</gml:upperCorner></gml:Envelope>
  </gml:boundedBy>
  <gml:featureMember>
    <xplan:BP_Plan gml:id="GML_plan">
      <xplan:name>B-Plan 501 Wohnen und Arbeiten am Hafen</xplan:name>
      <xplan:nummer>0501</xplan:nummer>
      <xplan:technHerstellDatum>2023-05-02</xplan:technHerstellDatum>
      <xplan:raeumlicherGeltungsbereich>
        <gml:MultiSurface gml:id="GML_plan_geom" srsName="EPSG:25832">
          <gml:surfaceMember>
            <gml:Polygon gml:id="GML_plan_poly">
              <gml:exterior><gml:LinearRing><gml:posList srsDimension="2">393500 5708000 393800 5708000 393800 5708200 393500 5708200 393500 5708000</gml:posList></gml:LinearRing></gml:exterior>
            </gml:Polygon>
          </gml:surfaceMember>
        </gml:MultiSurface>
      </xplan:raeumlicherGeltungsbereich>
      <xplan:gemeinde>
        <xplan:XP_Gemeinde><xplan:ags>05913000</xplan:ags><xplan:gemeindeName>Dortmund</xplan:gemeindeName></xplan:XP_Gemeinde>
      </xplan:gemeinde>
      <xplan:planArt>1000</xplan:planArt>
      <xplan:rechtsstand>4000</xplan:rechtsstand>
      <xplan:inkrafttretensDatum>2024-03-15</xplan:inkrafttretensDatum>
      <xplan:satzungsbeschlussDatum>2024-02-01</xplan:satzungsbeschlussDatum>
      <xplan:bereich xlink:href="#GML_bereich"/>
    </xplan:BP_Plan>
  </gml:featureMember>
  <gml:featureMember>
    <xplan:BP_Bereich gml:id="GML_bereich">
      <xplan:nummer>0</xplan:nummer>
      <xplan:planinhalt xlink:href="#GML_wa"/>
      <xplan:planinhalt xlink:href="#GML_gi"/>
      <xplan:gehoertZuPlan xlink:href="#GML_plan"/>
    </xplan:BP_Bereich>
  </gml:featureMember>
  <gml:featureMember>
    <xplan:BP_BaugebietsTeilFlaeche gml:id="GML_wa">
      <xplan:rechtscharakter>1000</xplan:rechtscharakter>
      <xplan:gehoertZuBereich xlink:href="#GML_bereich"/>
      <xplan:position>
        <gml:Polygon gml:id="GML_wa_poly" srsName="EPSG:25832">
          <gml:exterior><gml:LinearRing><gml:posList srsDimension="2">393500 5708000 393650 5708000 393650 5708200 393500 5708200 393500 5708000</gml:posList></gml:LinearRing></gml:exterior>
        </gml:Polygon>
      </xplan:position>
      <xplan:flaechenschluss>true</xplan:flaechenschluss>
      <xplan:allgArtDerBaulNutzung>1000</xplan:allgArtDerBaulNutzung>
      <xplan:besondereArtDerBaulNutzung>1200</xplan:besondereArtDerBaulNutzung>
    </xplan:BP_BaugebietsTeilFlaeche>
  </gml:featureMember>
  <gml:featureMember>
    <xplan:BP_BaugebietsTeilFlaeche gml:id="GML_gi">
      <xplan:rechtscharakter>1000</xplan:rechtscharakter>
      <xplan:gehoertZuBereich xlink:href="#GML_bereich"/>
      <xplan:position>
        <gml:Polygon gml:id="GML_gi_poly" srsName="EPSG:25832">
          <gml:exterior><gml:LinearRing><gml:posList srsDimension="2">393650 5708000 393800 5708000 393800 5708200 393650 5708200 393650 5708000</gml:posList></gml:LinearRing></gml:exterior>
        </gml:Polygon>
      </xplan:position>
      <xplan:flaechenschluss>true</xplan:flaechenschluss>
      <xplan:allgArtDerBaulNutzung>3000</xplan:allgArtDerBaulNutzung>
      <xplan:besondereArtDerBaulNutzung>1800</xplan:besondereArtDerBaulNutzung>
    </xplan:BP_BaugebietsTeilFlaeche>
  </gml:featureMember>
</xplan:XPlanAuszug>
