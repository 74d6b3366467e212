@failure-mode @scenario-drs-busy
Feature: DRS busy
  The Device Registration Service answers 503 to the join request; Windows shows 801c0025 (server busy).
  Guide section: AzureAdJoined : NO after setup

  Scenario: DRS busy: the symptom
    Given the scenario "drs-busy"
    When the user tries to join the PC as the scenario describes
    Then Settings shows the error code "801c0025"
    When the user restarts the PC and signs in with the Entra account
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : NO"
    And the device is not joined
    And the device is not enrolled in Intune

  Scenario: DRS busy: the fix repairs it
    Given the scenario "drs-busy"
    When the user tries to join the PC as the scenario describes
    And the admin applies the scenario's fix
    And the user disconnects if needed and joins again
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the device is joined
    And the device is enrolled in Intune
